"""Intake's SQL, one module per thing it stores: `tickets` (the aggregate, its messages and threads),
`conversations` (what routing a contact reads), `orders` (order context), `shop_rules`.

Every query is scoped by shop id: an id alone never reaches another shop's data. Writes return what
they need with `RETURNING` instead of reading the row again.
"""
