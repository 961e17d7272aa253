"""Model routing: Groq for fast turns, Claude for hard ones, a local server, the offline brain."""
