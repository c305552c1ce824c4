"""Linkage to the national population database (Cơ sở dữ liệu quốc gia về dân cư).

The citizen ID rules (:mod:`~idp_config.population.citizen_id`), name matching
(:mod:`~idp_config.population.names`), the registry adapters and the linking decision
(:mod:`~idp_config.population.registry`: bulk extract, HTTP verification service), and a simulator of a
synthetic province over the same HTTP contract (:mod:`~idp_config.population.simulator`). Account
issuing from the sector's records builds on these (not yet written).
"""

from idp_config.population.citizen_id import CitizenId, InvalidCitizenId, parse_citizen_id
from idp_config.population.names import NameMatch, compare_names

__all__ = ["CitizenId", "InvalidCitizenId", "NameMatch", "compare_names", "parse_citizen_id"]
