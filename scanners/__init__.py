"""Scanners of the live systems against the policies (Keycloak configuration, TLS, headers, ZAP).

Not written yet: the compliance issue fills this package.
"""
