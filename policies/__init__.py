"""Security policies as code (TCVN 11930, Decree 13/2023, OWASP ASVS, the sector's own rules).

Not written yet: the compliance issue fills this package. Today the realm loader in ``idp_config`` refuses
wildcard redirect URIs by itself; that rule moves here when the policy engine exists.
"""
