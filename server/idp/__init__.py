"""Local OpenID Connect provider that plays Entra ID for the real msal library.

Only for the local stack: the functions and the widget reach it over HTTPS like any
authority, so pointing `Authority` at Entra ID swaps it out without code changes.
"""
