"""Import every built-in scorer module so that it registers itself."""
