"""Pipeline stages: each a plain function with a pure core that tests call with fakes."""
