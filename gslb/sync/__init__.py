"""``gslb sync``: the zone's policy mirrored into Route 53 latency, geolocation and
failover records with health checks.

Pure core, thin edge, like the rest of gslb:

* :mod:`~gslb.sync.records`: the values (record sets, health checks, notices), our
  ownership marks and the Route 53 wire shapes, normalised so a read-back compares equal;
* :mod:`~gslb.sync.checks`: a region's ``health:`` config as Route 53 health checks;
* :mod:`~gslb.sync.desired`: a zone → the record sets and checks it should have;
* :mod:`~gslb.sync.plan`: desired vs what is there → a sorted plan, its threshold and
  the order and batches it is applied in;
* :mod:`~gslb.sync.route53`: the boto3 edge (read, apply with retries);
* :mod:`~gslb.sync.verify`: how Route 53 would answer the planned records, compared with
  gslb's own answers.
"""
