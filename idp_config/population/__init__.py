"""Linkage to the national population database (Cơ sở dữ liệu quốc gia về dân cư).

Today: the citizen ID rules (:mod:`~idp_config.population.citizen_id`) and name matching
(:mod:`~idp_config.population.names`) every adapter and the account issuing rely on. The adapters
(HTTP verification service, bulk extract, simulator) come with the account-issuing work.
"""

from idp_config.population.citizen_id import CitizenId, InvalidCitizenId, parse_citizen_id
from idp_config.population.names import NameMatch, compare_names

__all__ = ["CitizenId", "InvalidCitizenId", "NameMatch", "compare_names", "parse_citizen_id"]
