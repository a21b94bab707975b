"""The API's routes, one module per resource; `service/api.py` includes their routers.
No other module defines a route (tests/service/test_routes_layout.py holds to that)."""
