"""CareLoop's shared contracts: CloudEvents envelopes, versioned event data models, the topic map."""
