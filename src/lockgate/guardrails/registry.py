"""The scanners every plugin registered (`register_scanners`), and building one from a
policy rule's params."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pydantic import ConfigDict, ValidationError

from lockgate.config import ConfigError
from lockgate.guardrails.base import Scanner, ScannerDeps, ScannerParams, ScannerType
from lockgate.plugins import Registry, hookimpl, plugin_manager

__all__ = ["SCANNERS", "ScannerConfigError", "ScannerDeps", "build", "parse_params", "register"]

SCANNERS: Registry[ScannerType] = Registry("register_scanners", "scanner")


class ScannerConfigError(ConfigError, ValueError):
    """A policy names an unknown scanner or gives a scanner params it does not take."""


def describe(exc: ValidationError, prefix: str) -> list[str]:
    """One line per error, naming the full config key (the style of the settings' errors)."""
    lines = []
    for err in exc.errors():
        key = ".".join([prefix, *(str(p) for p in err["loc"])])
        lines.append(f"invalid config key '{key}': {err['msg'].removeprefix('Value error, ')}")
    return lines


def scanner_type(name: str) -> ScannerType:
    try:
        return SCANNERS[name]
    except KeyError:
        raise ScannerConfigError(
            f"unknown guardrail scanner '{name}' (known: {SCANNERS.known()})"
        ) from None


def parse_params(name: str, params: Mapping[str, Any], where: str = "params") -> ScannerParams:
    """The scanner's `Params` from a rule's raw params; `where` is the config key reported."""
    kind = scanner_type(name)
    try:
        return kind.Params.model_validate(dict(params))
    except ValidationError as exc:
        raise ScannerConfigError("\n".join(describe(exc, where))) from exc


def build(name: str, params: Mapping[str, Any], deps: ScannerDeps) -> Scanner:
    return scanner_type(name).build(parse_params(name, params, f"{name}.params"), deps)


# -- scanners without a package ------------------------------------------------------------

ScannerFactory = Callable[[dict[str, Any], ScannerDeps], Scanner]


class _AnyParams(ScannerParams):
    # A factory registered with `register` reads its own params.
    model_config = ConfigDict(extra="allow", frozen=True)


class _InProcess:
    """A plugin that registers one scanner factory (see `register`)."""

    Params: ClassVar[type[ScannerParams]] = _AnyParams

    def __init__(self, name: str, factory: ScannerFactory) -> None:
        self.name = name
        self.factory = factory

    def build(self, params: ScannerParams, deps: ScannerDeps) -> Scanner:
        return self.factory(dict(params.model_extra or {}), deps)

    @hookimpl
    def register_scanners(self, register: Callable[[str, Any], None]) -> None:
        register(self.name, self)


def register(name: str) -> Callable[[ScannerFactory], ScannerFactory]:
    """Add a scanner from a factory `(params dict, deps) -> Scanner` in this process, for tests
    and scripts; a package registers a typed scanner class through `register_scanners`.
    Registering a name again replaces the earlier factory."""

    def deco(factory: ScannerFactory) -> ScannerFactory:
        pm = plugin_manager()
        plugin_name = f"lockgate.in-process-scanner.{name}"
        if pm.has_plugin(plugin_name):
            pm.unregister(name=plugin_name)
        pm.register(_InProcess(name, factory), name=plugin_name)
        return factory

    return deco
