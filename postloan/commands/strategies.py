"""``postloan strategies list | show | validate``."""

from __future__ import annotations

from pathlib import Path

import typer

from postloan.commands.errors import command


def _show_rules(s) -> None:
    from rich.console import Console
    from rich.table import Table

    from strategies.registry import MAX_DPD

    t = Table(title=f"{s.name}: {' '.join(getattr(s, 'description', '').split())}")
    cols = ("channel", "dpd", "every", "per day", "hours", "priority", "fallback", "when")
    for c in cols:
        t.add_column(c)
    for r in s.rules:
        when = []
        for label, v in (
            ("purpose", r.purposes),
            ("credit", r.credits),
            ("capacity", r.capacities),
        ):
            if v:
                when.append(f"{label} {'/'.join(v)}")
        if r.uses_score:
            when.append(f"score [{r.score_min or 0:g}, {r.score_max or 1000:g})")
        if r.flags:
            when.append("flags " + "/".join(r.flags))
        if r.promise != "any":
            when.append(f"promise {r.promise}")
        if r.balance_min is not None or r.balance_max is not None:
            when.append(f"balance [{r.balance_min or 0:g}, {r.balance_max or 'inf'})")
        t.add_row(
            r.channel,
            f"{r.dpd_min}..{'charge-off' if r.dpd_max >= MAX_DPD else r.dpd_max}",
            "once" if r.once else f"{r.every_days} d",
            str(r.attempts_per_day),
            f"{r.hours[0]}-{r.hours[1]}" if r.hours else "any",
            f"{r.priority:g}",
            r.fallback or "",
            ", ".join(when),
        )
    Console().print(t)
    if getattr(s, "recovery", ()):
        rt = Table(title="after charge-off (first match wins; otherwise agency)")
        for c in ("path", "balance", "segment"):
            rt.add_column(c)
        for r in s.recovery:
            seg = " ".join("/".join(v) for v in (r.purposes, r.credits, r.capacities) if v)
            bal = (
                ""
                if r.balance_min is None and r.balance_max is None
                else f"[{r.balance_min or 0:g}, {r.balance_max or 'inf'})"
            )
            rt.add_row(r.path, bal, seg)
        Console().print(rt)


def register(app: typer.Typer) -> None:
    """Add the ``strategies`` group."""
    group = typer.Typer(
        help="List, show and validate collections strategies.", no_args_is_help=True
    )
    app.add_typer(group, name="strategies")

    @command(group, "list")
    def strategies_list() -> None:
        """List the strategies known by name: the library (YAML) and the Python ones."""
        from rich.console import Console
        from rich.table import Table

        from strategies.registry import names, resolve

        t = Table(show_header=True)
        t.add_column("name", no_wrap=True)
        t.add_column("kind")
        t.add_column("description", ratio=1)  # wraps at word boundaries, never cut
        for name in names():
            s = resolve(name)
            desc = getattr(s, "description", "") or (type(s).__doc__ or "").strip().splitlines()[0]
            alias = " (alias of standard)" if name == "default" else ""
            t.add_row(name, type(s).__name__, " ".join(desc.split()) + alias)
        Console().print(t)

    @command(group, "show")
    def strategies_show(name: str = typer.Argument(..., help="Strategy name or YAML file")) -> None:
        """Show a strategy's rules (or a split's arms)."""
        from rich.console import Console
        from rich.table import Table

        from strategies.registry import resolve

        s = resolve(name)
        if hasattr(s, "arms"):
            t = Table(title=f"{s.name}: champion/challenger split")
            t.add_column("arm")
            t.add_column("share", justify="right")
            for arm, share in zip(s.arms, s.shares, strict=True):
                t.add_row(arm, f"{share:.0%}")
            Console().print(t)
        elif hasattr(s, "rules"):
            _show_rules(s)
        else:
            desc = getattr(s, "description", "") or (type(s).__doc__ or "").strip()
            Console().print(f"{s.name}: a Python strategy. {desc}")

    @command(group, "validate")
    def strategies_validate(
        path: Path = typer.Argument(..., help="Strategy YAML file"),
        scenario: Path | None = typer.Option(
            None, "--scenario", help="Check DPD ranges against this scenario's charge-off"
        ),
    ) -> None:
        """Check a strategy file: every problem at once (exit code 2), then warnings about
        rules that never fire or that shadow each other."""
        from strategies.registry import check_strategy_file

        sc = None
        if scenario is not None:
            from sim.scenario import load_scenario

            sc = load_scenario(scenario)
        check = check_strategy_file(path, sc)
        s = check.strategy
        what = f"{len(s.rules)} rules" if hasattr(s, "rules") else f"{len(s.arms)} arms"
        for w in check.warnings:
            print(f"warning: {w}")
        n = len(check.warnings)
        tail = f", {n} warning{'' if n == 1 else 's'}" if n else ""
        print(f"{path}: ok ({s.name}, {what}{tail})")
