"""How the harness drives an environment. The default adapter passes scenario params
either per episode (`reset(options={<options_key>: ...})`, envs that declare
`configure: reset_options`; the key is "params" unless the entry says `options_key`) or to
`gymnasium.make(**params)` (any other gymnasium env: the env is re-made when params change).
A custom adapter (registry entry `adapter: module:Class`) can configure an env after construction
and choose the per-step signals that metrics read."""

from __future__ import annotations

from typing import Any

from simtest.contract.registry import EnvSpec, env_info, resolve

__all__ = ["EnvAdapter", "make_adapter", "rendering_adapter"]


class EnvAdapter:
    """Owns one env instance for a worker; reused across episodes."""

    def __init__(self, info: EnvSpec):
        self.info = info
        self.env: Any = None
        self._made_with: str | None = None

    def _make(self, kwargs: dict) -> Any:
        import gymnasium

        if self.info.entry_point:  # import the package so that it registers its ids
            module = self.info.entry_point.split(":")[0].split(".")[0]
            __import__(module)
        return gymnasium.make(self.info.id, disable_env_checker=True, **kwargs)

    def reset(self, params: dict, params_json: str, seed: int) -> tuple[Any, dict]:
        if self.info.configure == "reset_options":
            if self.env is None:
                self.env = self._make({})
            return self.env.reset(seed=seed, options={self.info.options_key: params})
        if self.env is None or self._made_with != params_json:
            self.close()
            self.env = self._make(dict(params))
            self._made_with = params_json
        return self.env.reset(seed=seed)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        return self.env.step(action)

    def signals(self, info: dict, reward: float) -> dict:
        """What the trace keeps of one step (the env's info; reward is kept separately)."""
        return info

    def view(self, name: str, **kwargs: Any) -> Any:
        """Render a view the env declares (its registry entry's `views`), for previews and videos."""
        method = self.info.views.get(name)
        if method is None:
            raise ValueError(f'{self.info.id} declares no view "{name}"; views: {", ".join(self.info.views) or "none"}')
        return getattr(self.env.unwrapped, method)(**kwargs)

    def views(self, names: Any = None, **kwargs: Any) -> list[tuple[str, Any]]:
        """(name, image) for `names` (default: every declared view), or [("render", env.render())]
        for an env that declares none. `size` and other kwargs go to view methods that accept them."""
        if not self.info.views:
            return [("render", self.env.render())]
        out = []
        for name in (tuple(self.info.views) if names is None else names):
            try:
                out.append((name, self.view(name, **kwargs)))
            except TypeError:  # a view method without a size argument
                out.append((name, self.view(name)))
        return out

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None


def make_adapter(env_id: str) -> EnvAdapter:
    info = env_info(env_id)
    cls = resolve(info.adapter) if info.adapter else EnvAdapter
    return cls(info)


def _renders_rgb(env_id: str) -> bool:
    """Whether the env class declares render_mode "rgb_array" (without making an env)."""
    import gymnasium
    from gymnasium.envs.registration import load_env_creator

    try:
        spec = gymnasium.spec(env_id.split(":", 1)[-1] if ":" in env_id else env_id)
        creator = spec.entry_point if callable(spec.entry_point) else load_env_creator(spec.entry_point)
        return "rgb_array" in getattr(creator, "metadata", {}).get("render_modes", [])
    except Exception:  # noqa: BLE001 - unknown: try, as before
        return True


def rendering_adapter(env_id: str) -> EnvAdapter:
    """The env's adapter, for previews and videos. Envs without named views are made with
    render_mode="rgb_array" so that render() gives a frame (gymnasium's classic-control envs)."""
    info = env_info(env_id)
    base = resolve(info.adapter) if info.adapter else EnvAdapter
    if info.views or not _renders_rgb(env_id):
        return base(info)

    class Rendering(base):  # type: ignore[misc, valid-type]
        def _make(self, kwargs: dict) -> Any:
            try:
                return super()._make({**kwargs, "render_mode": "rgb_array"})
            except TypeError:  # an env without render_mode: render() may still work
                return super()._make(kwargs)

    return Rendering(info)
