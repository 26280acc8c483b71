"""`JsonConfig`: the JSON round trip of the package's frozen config dataclasses."""

import dataclasses
import json


class JsonConfig:
  """Mixin of the frozen config dataclasses: `to_dict` / `from_dict` and their JSON forms.

  A config's dict holds its fields by name (a nested config as its own dict); JSON has no
  tuples, so lists read back as tuples (the configs are frozen and hashable).
  """

  def to_dict(self):
    return dataclasses.asdict(self)

  def to_json(self):
    return json.dumps(self.to_dict(), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, values):
    values = dict(values)
    unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
      raise ValueError(f"Unknown {cls.__name__} fields: {sorted(unknown)}.")
    return cls(**{name: tuple(value) if isinstance(value, list) else value
                  for name, value in values.items()})

  @classmethod
  def from_json(cls, text):
    return cls.from_dict(json.loads(text))
