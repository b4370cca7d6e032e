"""core.present.sdk_setup: SDK recipes carry this API's values and the collector URL."""
import ast

from core.present import sdk_setup

URL = "http://collector.internal:8900"


def _code(recipe, title_start: str) -> str:
    return next(code for title, code, _ in recipe.steps if title.startswith(title_start))


def test_there_is_a_recipe_for_django_express_and_laravel():
    names = [r.sdk.split(" ")[0] for r in sdk_setup.recipes(URL, "key-1", "tok-1")]
    assert names == ["Django", "Node.js", "Laravel"]


def test_django_settings_hold_token_and_key_as_python():
    django = sdk_setup.recipes(URL, "key-1", "tok-1")[0]
    settings = _code(django, "settings.py")
    tree = ast.parse(settings)  # valid Python, whatever the values contain
    assert tree is not None
    assert '"SDK_TOKEN": "tok-1"' in settings
    assert '"API_KEY": "key-1"' in settings


def test_django_endpoint_override_points_at_the_collector():
    django = sdk_setup.recipes(URL, "key-1", "tok-1")[0]
    override = _code(django, "wsgi.py")
    ast.parse(override)
    assert 'choice=lambda urls: "http://collector.internal:8900/"' in override


def test_quotes_in_values_cannot_break_the_python_snippet():
    django = sdk_setup.recipes(URL, 'k"\nimport os', "t")[0]
    tree = ast.parse(_code(django, "settings.py"))
    assert not any(isinstance(node, ast.Import) for node in ast.walk(tree))


def test_express_and_laravel_env_carry_the_values():
    _, express, laravel = sdk_setup.recipes(URL + "/", "key-1", "tok-1")
    assert _code(express, "Environment") == (
        "TREBLLE_SDK_TOKEN=tok-1\nTREBLLE_API_KEY=key-1\nCLIENTELE_COLLECTOR_URL=http://collector.internal:8900/")
    assert _code(laravel, ".env") == "TREBLLE_SDK_TOKEN=tok-1\nTREBLLE_API_KEY=key-1"
    assert _code(laravel, "config/treblle.php") == "'url' => \"http://collector.internal:8900/\","


def test_without_a_token_the_recipe_says_where_to_find_it():
    django = sdk_setup.recipes(URL, "key-1")[0]
    assert sdk_setup.TOKEN_PLACEHOLDER in _code(django, "settings.py")


def test_health_check_command_targets_the_collector():
    assert sdk_setup.curl_check(URL + "/") == "curl -s http://collector.internal:8900/health"
