"""Azure region names: the canonical form ARM keys on (`westeurope`) and the display form some
resource providers return (`West Europe`).

Compute's Gallery RP echoes a gallery image version's `publishingProfile.targetRegions[].name` and
`replicationStatus.summary[].region` as display names (GalleryImageVersion_Get examples:
"West US"), whatever form the request used; clients must compare regions normalised.
"""

from __future__ import annotations

import re

from azuresim.world import region

DISPLAY: dict[str, str] = {
    "australiaeast": "Australia East",
    "brazilsouth": "Brazil South",
    "canadacentral": "Canada Central",
    "centralindia": "Central India",
    "centralus": "Central US",
    "eastasia": "East Asia",
    "eastus": "East US",
    "eastus2": "East US 2",
    "francecentral": "France Central",
    "germanywestcentral": "Germany West Central",
    "japaneast": "Japan East",
    "japanwest": "Japan West",
    "koreacentral": "Korea Central",
    "northcentralus": "North Central US",
    "northeurope": "North Europe",
    "norwayeast": "Norway East",
    "southafricanorth": "South Africa North",
    "southcentralus": "South Central US",
    "southeastasia": "Southeast Asia",
    "swedencentral": "Sweden Central",
    "switzerlandnorth": "Switzerland North",
    "uaenorth": "UAE North",
    "uksouth": "UK South",
    "ukwest": "UK West",
    "westcentralus": "West Central US",
    "westeurope": "West Europe",
    "westus": "West US",
    "westus2": "West US 2",
    "westus3": "West US 3",
}


def display_name(name: str) -> str:
    """'westeurope' or 'West Europe' -> 'West Europe'; an unknown region keeps a readable guess."""
    key = region(name)
    if key in DISPLAY:
        return DISPLAY[key]
    words = re.sub(r"(north|south|east|west|central)", r" \1 ", key)
    return " ".join(w.capitalize() for w in words.split()) or name
