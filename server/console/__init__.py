"""The dev console (this machine only, never beside real Azure): live connections and
recent messages from the store, and a form that places a test call as the telephony app
would (`views.py`, its template and static files)."""
