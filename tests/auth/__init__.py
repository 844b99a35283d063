"""In-app authorization with Google-signed ID tokens (AUTH_MODE=google-id-token)."""
