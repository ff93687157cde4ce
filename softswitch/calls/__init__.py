"""The B2BUA: calls, legs, routing plan and registrar."""
