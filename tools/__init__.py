"""Tooling around the services: the local stack supervisor (`make run`, bootstrap) and the OpenAPI
documents. Not a service: nothing in runtime/ or services/ imports it."""
