"""Dashboard numbers over the API. Placeholder until selectors land."""

urlpatterns: list = []
