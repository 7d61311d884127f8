"""Studies, participants and their responses (Django app)."""
