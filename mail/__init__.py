"""Mail rendering used by the outbox job and the web app: templates and German subjects."""
