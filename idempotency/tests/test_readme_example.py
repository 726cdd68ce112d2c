"""The README's Python example for scripts runs as written against a live server and stores its metrics once."""

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from accounts.tests.factories import RoleFactory, UserWithRolesFactory, api_key_issue
from dashboard.metrics.models import Metric

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_python_example() -> str:
    section = README.read_text().split("## Pushing metrics from a script", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return code


@pytest.mark.django_db(transaction=True)
def test_the_python_example_pushes_metrics_with_a_key(live_server, tmp_path):
    role = RoleFactory(name=f"pusher-{uuid.uuid4().hex[:8]}", permissions=["dashboard.add_metric"])
    owner = UserWithRolesFactory(roles=[role.name])
    key = api_key_issue(owner, ["dashboard.add_metric"]).key
    script = tmp_path / "push.py"
    script.write_text(readme_python_example())
    env = {**os.environ, "DASHBOARD_URL": live_server.url, "DASHBOARD_API_KEY": key}
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2 metrics stored"
    assert sorted(Metric.objects.filter(owner=owner).values_list("name", "value")) == [
        ("orders", 1284.0),
        ("revenue", 98231.5),
    ]
