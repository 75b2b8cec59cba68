"""gslb: a global server load balancer that answers as an authoritative Geo-DNS server."""

__version__ = "0.1.0"
