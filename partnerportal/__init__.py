"""Partnerportal: onboarding workflow engine for partner portals."""
