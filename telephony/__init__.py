"""Telephony sender CLI: what a phone system does to ring an agent through the adaptor."""
