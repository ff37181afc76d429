"""Message templates: Jinja2 text per channel and language that becomes active only when
the content checker finds nothing unlawful in it."""
