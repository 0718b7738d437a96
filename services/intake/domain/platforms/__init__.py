"""Shop platforms' order webhooks (Shopify, WooCommerce) as CareLoop order events, without I/O.

- `deliveries`: what a delivery says about one order (`Mapped`), and the per-order state that keeps
  stale deliveries and updates that change nothing CareLoop models from becoming events;
- `shopify`, `woocommerce`: each platform's topics and payloads mapped to CareLoop steps;
- `reading`: reading a platform's JSON with a precise reason when a field is missing or malformed;
- `signatures`: the platforms' base64 HMAC-SHA256 signatures, checked in constant time.
"""
