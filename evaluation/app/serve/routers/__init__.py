"""The service's routes, one router per concern: recommendations, the catalogue, operations."""
