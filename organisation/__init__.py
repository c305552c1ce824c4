"""The education sector's units: the department (Sở GD&ĐT), its district offices (Phòng GD&ĐT) and
their schools, read from the sector's schools list.

A small package below both the realm configuration (which makes one Keycloak group per unit) and the
audit service (which scopes a district's security officer to its units): neither imports the other.
"""

from organisation.errors import SchoolsListInvalid
from organisation.units import COLUMNS, ROOT_CODE, ROOT_NAME, Unit, load_schools, parse_schools

__all__ = [
    "COLUMNS",
    "ROOT_CODE",
    "ROOT_NAME",
    "SchoolsListInvalid",
    "Unit",
    "load_schools",
    "parse_schools",
]
