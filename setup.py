"""Package layout that pyproject.toml cannot say: the bundled zones and database.

The repository keeps the example zones in ``zones/`` and the compact geo database in
``data/`` (where the README, the tests and ``gslb geodb build`` expect them). A wheel
ships both as package data by mapping those directories to ``gslb._bundled.zones``
and ``gslb._bundled.data``; ``gslb.defaults`` finds them there when installed, and in
the checkout otherwise.

It also builds two C modules: the twin of the new-network query path (gslb/geo/_tree.c,
see gslb.geo.tree) and the inner loop of the UDP batches (gslb/dns/_batch.c, see
gslb.dns.udpbatch). Both are optional: without a C compiler and Python's headers the
build says so and gslb runs the same in Python. Everything else is in pyproject.toml.
"""

from setuptools import Extension, find_packages, setup

BUNDLED = {"gslb._bundled.zones": "zones", "gslb._bundled.data": "data"}

setup(
    packages=[*find_packages(include=["gslb", "gslb.*"]), *BUNDLED],
    package_dir=BUNDLED,
    package_data={
        # the status page and its map (world.json is built by gslb.geo.build.worldmap)
        "gslb.live": ["static/*"],
        "gslb._bundled.zones": ["*.yaml"],
        "gslb._bundled.data": ["dbip-city-lite.mmdb.xz", "LICENSE", "README.md"],
    },
    exclude_package_data={"gslb._bundled.data": ["*.mmdb"]},
    ext_modules=[
        Extension(
            name,
            [source],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
        for name, source in (
            ("gslb.geo._tree", "gslb/geo/_tree.c"),
            ("gslb.dns._batch", "gslb/dns/_batch.c"),
        )
    ],
)
