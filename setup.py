"""Packaging beyond what pyproject.toml can say: the shipped scenarios and trial library.

``scenarios/`` and ``trials/`` are top-level folders of the repository (the layout is fixed), but
an installed ``postloan`` must find them too. They are installed as package data of the packages
that look them up (``sim.shipped`` and ``postloan.trials``), which pyproject.toml's package
discovery cannot express: it finds packages in place, and cannot map a package to another folder.
Everything else (metadata, dependencies, package data of the code packages) is in pyproject.toml.
"""

from setuptools import find_packages, setup

#: Data folders installed as packages: where an installed lab finds them -> the repository folder.
SHIPPED = {
    "sim.shipped.scenarios": "scenarios",
    "sim.shipped.scenarios.experiments": "scenarios/experiments",
    "postloan.trials.library": "trials",
    "postloan.trials.library.strategies": "trials/strategies",
}

setup(
    packages=find_packages(include=["sim*", "strategies*", "optimizer*", "postloan*"])
    + list(SHIPPED),
    package_dir=SHIPPED,  # their files: [tool.setuptools.package-data] in pyproject.toml
)
