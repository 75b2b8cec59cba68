"""Where AWS regions are, for ``gslb sync --verify``'s latency estimate. Data only.

Source: the city or metro area AWS names for each region on its "Regions and
Availability Zones" page (https://aws.amazon.com/about-aws/global-infrastructure/regions_az/)
and in the region's launch announcement; the coordinates are that city's centre
(GeoNames, https://www.geonames.org), rounded to 0.01°. AWS publishes no data-centre
coordinates: this is the usual approximation, and at the scale of latency routing a
metro area is one point. Regions where AWS names no city use the one it names for the
country (``me-central-1``: Dubai). Route 53 latency records may name any commercial
region; one missing here is reported by ``--verify`` and located at the gslb region's
own ``location:`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["AWS_REGIONS"]

#: AWS region → (latitude, longitude) of the city it is named after.
AWS_REGIONS: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "us-east-1": (39.04, -77.49),  # N. Virginia: Ashburn
        "us-east-2": (39.96, -83.00),  # Ohio: Columbus
        "us-west-1": (37.34, -121.89),  # N. California: San Jose
        "us-west-2": (45.84, -119.70),  # Oregon: Boardman
        "ca-central-1": (45.50, -73.57),  # Canada (Central): Montreal
        "ca-west-1": (51.05, -114.07),  # Canada West: Calgary
        "mx-central-1": (20.59, -100.39),  # Mexico (Central): Queretaro
        "sa-east-1": (-23.55, -46.63),  # South America: Sao Paulo
        "eu-west-1": (53.35, -6.26),  # Ireland: Dublin
        "eu-west-2": (51.51, -0.13),  # London
        "eu-west-3": (48.86, 2.35),  # Paris
        "eu-central-1": (50.11, 8.68),  # Frankfurt
        "eu-central-2": (47.38, 8.54),  # Zurich
        "eu-north-1": (59.33, 18.07),  # Stockholm
        "eu-south-1": (45.46, 9.19),  # Milan
        "eu-south-2": (41.65, -0.88),  # Spain: Zaragoza (Aragon)
        "il-central-1": (32.09, 34.78),  # Israel: Tel Aviv
        "me-south-1": (26.23, 50.59),  # Bahrain: Manama
        "me-central-1": (25.20, 55.27),  # UAE: Dubai
        "af-south-1": (-33.92, 18.42),  # Cape Town
        "ap-east-1": (22.32, 114.17),  # Hong Kong
        "ap-east-2": (25.03, 121.57),  # Taipei
        "ap-south-1": (19.08, 72.88),  # Mumbai
        "ap-south-2": (17.39, 78.49),  # Hyderabad
        "ap-northeast-1": (35.68, 139.69),  # Tokyo
        "ap-northeast-2": (37.57, 126.98),  # Seoul
        "ap-northeast-3": (34.69, 135.50),  # Osaka
        "ap-southeast-1": (1.35, 103.82),  # Singapore
        "ap-southeast-2": (-33.87, 151.21),  # Sydney
        "ap-southeast-3": (-6.21, 106.85),  # Jakarta
        "ap-southeast-4": (-37.81, 144.96),  # Melbourne
        "ap-southeast-5": (3.14, 101.69),  # Malaysia: Kuala Lumpur
        "ap-southeast-6": (-36.85, 174.76),  # New Zealand: Auckland
        "ap-southeast-7": (13.76, 100.50),  # Thailand: Bangkok
    }
)
