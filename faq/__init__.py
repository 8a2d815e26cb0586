"""The FAQ: loading and checking the admins' YAML file, and matching questions against it."""
