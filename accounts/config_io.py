"""Import and export of the original tool's business_gemini_session.json format.

Import validates the whole document first and then writes it in one transaction, so bad input
changes nothing. Export is deterministic, so export -> import -> export gives identical bytes.

Imports work in bulk: a config may hold GEMPOOL_IMPORT_MAX_ACCOUNTS accounts (10,000 by default), each
row checked by plain Python (the serializer only names the problems of a row that fails), new accounts
inserted with bulk_create, stored ones read and locked in batches, their plain fields written by one
executemany per set of changed columns and their transitions by one UPDATE per batch of equal change sets
(accounts.lifecycle). bench/config_import.py measures it.
"""
from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from accounts import lifecycle, services
from accounts.lifecycle import QUOTA_KINDS
from accounts.models import Account, PoolSettings
from accounts.proxies import validate_proxy_url
from gempool_site import hot_rows
from gempool_site.exceptions import BadRequestError
from gempool_site.parsers import has_lone_surrogate, may_hold_lone_surrogate
from models_catalog.models import ModelAlias, ModelConfig
from models_catalog.services import aliases_problems, model_lookup

CAPABILITIES = ("text", "image_generation", "video_generation", "web_grounding")


class ConfigInvalid(BadRequestError):
    """The document cannot be imported; `problems` names each field and row at fault (all in the envelope)."""

    code = "invalid_config"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("The config is invalid; nothing was changed. " + "; ".join(problems[:5]))
        self.problems = problems

    def envelope_extras(self) -> dict[str, Any]:
        return {"problems": self.problems}


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers, booleans and objects instead of stringifying them."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """Only JSON true/false; "yes" or 1 in a config file is more likely a mistake than intent."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            raise serializers.ValidationError("Must be true or false.")
        return data


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError("Must be a whole number.")
        return super().to_internal_value(data)


class CsesidxField(serializers.CharField):
    """csesidx is usually digits; a JSON number is accepted and kept as its decimal text."""

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, int) and not isinstance(data, bool):
            data = str(data)
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class DailyQuotasSerializer(serializers.Serializer):
    """`daily_quotas` (gempool's key): answers, images and videos per account and quota day; 0 = unlimited.

    Top level: the pool's (kinds left out keep their stored values). In an account row: its overrides (kinds
    left out use the pool's; a row without the key has none)."""

    text = StrictIntegerField(min_value=0, max_value=1_000_000, required=False)
    image = StrictIntegerField(min_value=0, max_value=1_000_000, required=False)
    video = StrictIntegerField(min_value=0, max_value=1_000_000, required=False)


class ConfigAccountSerializer(serializers.Serializer):
    team_id = StrictCharField(max_length=255)
    secure_c_ses = StrictCharField(max_length=8192)
    host_c_oses = StrictCharField(max_length=8192, required=False, allow_blank=True, default="")
    csesidx = CsesidxField(max_length=64)
    user_agent = StrictCharField(max_length=512, required=False, allow_blank=True, default="")
    available = StrictBooleanField(required=False, default=True)
    label = StrictCharField(max_length=100, required=False, allow_blank=True, default="")
    proxy = StrictCharField(max_length=500, required=False, allow_blank=True, default="",
                            validators=[validate_proxy_url])
    daily_quotas = DailyQuotasSerializer(required=False)


_MISSING = object()
_SURROGATE = re.compile("[\ud800-\udfff]")
_BUILT_IN_CHECKS = (MaxLengthValidator, ProhibitNullCharactersValidator, ProhibitSurrogateCharactersValidator)


@dataclass(frozen=True)
class _TextRule:
    """What ConfigAccountSerializer checks of one text field, read from the field itself."""

    name: str
    max_length: int
    optional: bool  # absent or blank: "" (else: required, never blank)
    takes_int: bool  # a JSON number is kept as its decimal text (csesidx)
    validators: tuple  # the field's own, beyond length, NUL and surrogates


def _account_rules() -> tuple[tuple[_TextRule, ...], str, bool]:
    """The serializer's text fields as rules, and its one boolean field with its default. A field of another
    shape is a change this fast path does not know: refused here, at import, rather than judged wrongly."""
    text, flag = [], None
    for name, field_ in ConfigAccountSerializer().fields.items():
        if name in _SERIALIZER_ONLY:
            continue
        if isinstance(field_, StrictBooleanField) and flag is None:
            flag = (name, field_.default)
            continue
        optional = not field_.required
        if not isinstance(field_, StrictCharField | CsesidxField) or field_.min_length or not field_.trim_whitespace \
                or field_.max_length is None or optional != (field_.allow_blank and field_.default == ""):
            raise TypeError(f"ConfigAccountSerializer.{name}: a field shape _account_row_fast() does not know")
        text.append(_TextRule(name, field_.max_length, optional, isinstance(field_, CsesidxField),
                              tuple(v for v in field_.validators if not isinstance(v, _BUILT_IN_CHECKS))))
    return tuple(text), *flag


# Rows carrying these (rare: per-account quota overrides) are judged by the serializer alone.
_SERIALIZER_ONLY = ("daily_quotas",)
_TEXT_RULES, _FLAG, _FLAG_DEFAULT = _account_rules()


def _account_row_fast(item: Any) -> dict | None:
    """ConfigAccountSerializer's validated data for a row that certainly passes it, else None.

    The serializer costs half a millisecond a row (most of it checking each cookie character for
    surrogates), seconds for a large pool; this does the same checks in one pass. It only ever clears a
    row: any doubt returns None and the serializer, which owns every message, judges that row.
    """
    if type(item) is not dict or any(name in item for name in _SERIALIZER_ONLY):
        return None
    row: dict[str, Any] = {}
    for rule in _TEXT_RULES:
        value = item.get(rule.name, _MISSING)
        if rule.takes_int and type(value) is int:
            value = str(value)
        elif value is _MISSING and rule.optional:
            value = ""
        if type(value) is not str:
            return None
        value = value.strip()  # CharField trims whitespace
        row[rule.name] = value
        if not value:
            if not rule.optional:
                return None
            continue
        if len(value) > rule.max_length or "\x00" in value or _SURROGATE.search(value):
            return None
        try:
            for validator in rule.validators:  # the proxy's address policy: one lookup per host and minute
                validator(value)
        except (serializers.ValidationError, DjangoValidationError):
            return None
    flag = item.get(_FLAG, _FLAG_DEFAULT)
    if type(flag) is not bool:
        return None
    row[_FLAG] = flag
    return row


class ConfigAccountsField(serializers.Field):
    """The `accounts` list: each row as ConfigAccountSerializer validates it, errors keyed by row as a
    ListSerializer keys them (so every message names its row and field as before)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, default=list, **kwargs)

    def to_internal_value(self, data: Any) -> list[dict]:
        if not isinstance(data, list):
            raise serializers.ValidationError("Must be a list.")
        child = ConfigAccountSerializer()
        rows, errors = [], {}
        for index, item in enumerate(data):
            row = _account_row_fast(item)
            if row is None:
                try:
                    row = child.run_validation(item)
                except serializers.ValidationError as exc:
                    errors[index] = exc.detail
                    continue
            rows.append(row)
        if errors:
            raise serializers.ValidationError(errors)
        return rows

    def to_representation(self, value: Any) -> Any:
        return value


class ConfigModelSerializer(serializers.Serializer):
    id = StrictCharField(max_length=100)
    name = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    description = StrictCharField(required=False, allow_blank=True, default="", max_length=5000)
    context_length = StrictIntegerField(required=False, default=32768, min_value=1)
    max_tokens = StrictIntegerField(required=False, default=8192, min_value=1)
    price_per_1k_tokens = serializers.DecimalField(max_digits=12, decimal_places=6, required=False,
                                                   default=Decimal("0"), min_value=Decimal("0"))
    upstream_model_id = StrictCharField(max_length=100, required=False, allow_blank=True, default="")
    capabilities = serializers.ListField(child=serializers.ChoiceField(CAPABILITIES), required=False)
    # gempool's own key (the original tool ignores it): absent keeps the model's aliases, a list replaces them.
    aliases = serializers.ListField(child=StrictCharField(max_length=100), required=False, max_length=50)
    enabled = StrictBooleanField(required=False, default=True)

    def validate_id(self, value: str) -> str:
        from models_catalog.models import model_id_validator

        model_id_validator(value)
        return value


class CooldownSerializer(serializers.Serializer):
    base_seconds = StrictIntegerField(min_value=1, max_value=86400 * 7)
    max_seconds = StrictIntegerField(min_value=1, max_value=86400 * 7)
    unavailable_rest_seconds = StrictIntegerField(min_value=0, max_value=86400)


class ConfigSerializer(serializers.Serializer):
    """The whole document; unknown top-level keys are ignored as the original tool did.

    Pool settings left out of the file keep their stored values (no defaults here, so absence shows).
    """

    proxy = StrictCharField(max_length=500, required=False, allow_blank=True, validators=[validate_proxy_url])
    proxy_enabled = StrictBooleanField(required=False)
    image_base_url = serializers.URLField(required=False, allow_blank=True, max_length=200)
    default_model = StrictCharField(required=False, allow_blank=True, max_length=100)
    cooldown = CooldownSerializer(required=False)
    daily_quotas = DailyQuotasSerializer(required=False)
    accounts = ConfigAccountsField()
    models = ConfigModelSerializer(many=True, required=False, default=list)

    def validate(self, attrs: dict) -> dict:
        problems = _duplicate_problems(attrs.get("accounts", []), attrs.get("models", []))
        if "proxy" in attrs or "proxy_enabled" in attrs:
            # What the file leaves out stays as stored (read without creating the row: this is validation only).
            stored = PoolSettings.objects.filter(pk=1).first() or PoolSettings()
            if attrs.get("proxy_enabled", stored.proxy_enabled) and not attrs.get("proxy", stored.proxy_url):
                problems.append("proxy: proxy_enabled is true but no proxy is set.")
        cooldown = attrs.get("cooldown")
        if cooldown and cooldown["base_seconds"] > cooldown["max_seconds"]:
            problems.append("cooldown.base_seconds: must not exceed cooldown.max_seconds.")
        if problems:
            raise serializers.ValidationError(problems)
        return attrs


def _duplicate_problems(accounts: list[dict], models: list[dict]) -> list[str]:
    problems, seen = [], {}
    for index, row in enumerate(accounts):
        key = (row["team_id"], row["csesidx"])
        if key in seen:
            problems.append(f"accounts[{index}]: duplicates accounts[{seen[key]}] (same team_id and csesidx).")
        seen.setdefault(key, index)
    model_rows: dict[str, int] = {}
    for index, row in enumerate(models):
        if row["id"] in model_rows:
            problems.append(f"models[{index}].id: duplicates models[{model_rows[row['id']]}] ({row['id']!r}).")
        model_rows.setdefault(row["id"], index)
    named: dict[str, str] = {row["id"]: f"models[{index}].id" for index, row in enumerate(models)}
    for index, row in enumerate(models):
        for position, alias in enumerate(row.get("aliases") or []):
            where = f"models[{index}].aliases[{position}]"
            if alias in named:
                problems.append(f"{where}: {alias!r} is already used as {named[alias]}.")
            named.setdefault(alias, where)
    return problems


def _flatten_errors(detail: Any, path: str = "") -> list[str]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            if key == "non_field_errors":
                sub = path
            elif isinstance(key, int) or str(key).isdigit():
                sub = f"{path}[{key}]"  # many=True serializers key row errors by index
            else:
                sub = f"{path}.{key}" if path else str(key)
            out += _flatten_errors(value, sub)
        return out
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [f"{path}: {item}" if path else str(item) for item in detail]
        out = []
        for index, item in enumerate(detail):
            if item:
                out += _flatten_errors(item, f"{path}[{index}]")
        return out
    return [f"{path}: {detail}" if path else str(detail)]


# ---- reading --------------------------------------------------------------------------------


def config_parse_bytes(raw: bytes, *, max_accounts: int | None = None) -> dict:
    """Decode and validate a config document; raises ConfigInvalid naming every problem.

    `max_accounts`: the most accounts it may hold (default GEMPOOL_IMPORT_MAX_ACCOUNTS).
    """
    limit = settings.GEMPOOL_IMPORT_MAX_BYTES
    if len(raw) > limit:
        raise ConfigInvalid([f"The config is {len(raw) / 1048576:.1f} MB; the limit is "
                             f"{limit / 1048576:.0f} MB (GEMPOOL_IMPORT_MAX_MB)."])
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ConfigInvalid([f"The config is not UTF-8 text (byte {exc.start})."]) from None
    except json.JSONDecodeError as exc:
        raise ConfigInvalid([f"Invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}."]) from None
    except RecursionError:
        raise ConfigInvalid(["Invalid JSON: the document is nested too deeply."]) from None
    except ValueError:  # the one other ValueError json raises: Python's cap on the digits of an integer
        raise ConfigInvalid([f"Invalid JSON: a number has more than {sys.get_int_max_str_digits():,} digits."]) \
            from None
    if may_hold_lone_surrogate(raw) and has_lone_surrogate(document):
        raise ConfigInvalid(["Invalid JSON: a string holds a lone UTF-16 surrogate escape (such as \\ud800)."])
    return config_parse(document, max_accounts=max_accounts)


def config_parse(document: Any, *, max_accounts: int | None = None) -> dict:
    """Validate an already-decoded config document (`max_accounts`: as in config_parse_bytes)."""
    if not isinstance(document, dict):
        raise ConfigInvalid(["The config must be a JSON object with 'accounts' and 'models' lists."])
    for key in ("accounts", "models"):
        if key in document and not isinstance(document[key], list):
            raise ConfigInvalid([f"{key}: must be a list."])
    limit = settings.GEMPOOL_IMPORT_MAX_ACCOUNTS if max_accounts is None else max_accounts
    count = len(document.get("accounts", []))
    if count > limit:
        raise ConfigInvalid([f"accounts: the config holds {count:,} accounts; an import takes at most {limit:,} "
                             f"(GEMPOOL_IMPORT_MAX_ACCOUNTS; manage.py importconfig --max-accounts N takes more)."])
    serializer = ConfigSerializer(data=document)
    if not serializer.is_valid():
        raise ConfigInvalid(_flatten_errors(serializer.errors))
    return serializer.validated_data


# ---- writing --------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    """What an import changed (or, with dry_run, would change)."""

    accounts_created: int = 0
    accounts_updated: int = 0
    models_created: int = 0
    models_updated: int = 0
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)

    def as_text(self) -> str:
        verb = "Would import" if self.dry_run else "Imported"
        return (f"{verb}: {self.accounts_created} new and {self.accounts_updated} updated accounts, "
                f"{self.models_created} new and {self.models_updated} updated models.")


def config_import(*, config: dict, dry_run: bool = False) -> ImportSummary:
    """Write a validated config in one transaction; accounts merge by (team_id, csesidx), models by id."""
    summary = ImportSummary(dry_run=dry_run)
    with transaction.atomic():
        _import_settings(config)
        summary.accounts_created, summary.accounts_updated = _import_accounts(config.get("accounts", []),
                                                                              now=timezone.now())
        for position, row in enumerate(config.get("models", [])):
            created = _import_model(row, position)
            summary.models_created += created
            summary.models_updated += not created
        _import_aliases(config.get("models", []))
        _check_default_model(config)
        if dry_run:
            transaction.set_rollback(True)
    return summary


def _import_settings(config: dict) -> None:
    pool = PoolSettings.load()
    if "proxy" in config:
        pool.proxy_url = config["proxy"]
    if "proxy_enabled" in config:
        pool.proxy_enabled = config["proxy_enabled"]
    if "image_base_url" in config:
        pool.image_base_url = config["image_base_url"]
    if "default_model" in config:
        pool.default_model = config["default_model"]
    if "cooldown" in config:
        pool.cooldown_base_seconds = config["cooldown"]["base_seconds"]
        pool.cooldown_max_seconds = config["cooldown"]["max_seconds"]
        pool.unavailable_rest_seconds = config["cooldown"]["unavailable_rest_seconds"]
    for kind, quota in config.get("daily_quotas", {}).items():
        setattr(pool, f"daily_{kind}_quota", quota)
    pool.save()


LOOKUP_BATCH = 500  # stored accounts read (and locked) per SELECT
WRITE_BATCH = 500
# What the life-cycle rules of an import read from a stored account, besides the fields a row sets.
_STATE_READ = ("enabled", "status", "attention_reason", "last_error_kind", "last_error_at", "logged_in_at")


class ImportConflict(BadRequestError):
    code = "duplicate_account"


def _import_accounts(rows: list[dict], *, now: datetime) -> tuple[int, int]:
    """Create the new accounts and change the stored ones as an operator's edit would (services.account_update):
    plain fields written as given, then the life cycle moved (switched on or off, new cookies). Returns
    (created, updated)."""
    stored = _stored_accounts(rows)
    new = [row for row in rows if (row["team_id"], row["csesidx"]) not in stored]
    _create_accounts(new, now=now)
    _update_accounts([(stored[row["team_id"], row["csesidx"]], row) for row in rows
                      if (row["team_id"], row["csesidx"]) in stored], now=now)
    return len(new), len(rows) - len(new)


def _plain_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"team_id": row["team_id"], "csesidx": row["csesidx"], "secure_c_ses": row["secure_c_ses"],
            "host_c_oses": row["host_c_oses"], "user_agent": row["user_agent"], "label": row["label"],
            "proxy_url": row["proxy"],
            **{f"daily_{kind}_quota": (row.get("daily_quotas") or {}).get(kind) for kind in QUOTA_KINDS}}


def _stored_accounts(rows: list[dict]) -> dict[tuple[str, str], Account]:
    """The stored accounts the rows name, by (team_id, csesidx), their rows locked until the import ends.

    Every seat's key comes in one narrow query (no secrets to decrypt): matching pairs in SQL instead would
    need an OR per row, or two IN lists whose cross product the index walks."""
    keys = {(team_id, csesidx): pk for pk, team_id, csesidx in Account.objects.values_list("pk", "team_id", "csesidx")}
    ids = sorted(pk for row in rows if (pk := keys.get((row["team_id"], row["csesidx"]))) is not None)
    found: dict[tuple[str, str], Account] = {}
    fields = [*services.ACCOUNT_FIELDS, *_STATE_READ]
    for start in range(0, len(ids), LOOKUP_BATCH):
        query = Account.objects.select_for_update().only(*fields).filter(pk__in=ids[start:start + LOOKUP_BATCH])
        found.update(((account.team_id, account.csesidx), account) for account in query.order_by("id"))
    return found


def _create_accounts(rows: list[dict], *, now: datetime) -> None:
    initial = {on: lifecycle.created(enabled=on, now=now).initial_values() for on in (True, False)}
    accounts = [Account(**_plain_fields(row), **initial[row["available"]]) for row in rows]
    try:
        with transaction.atomic():
            Account.objects.bulk_create(accounts, batch_size=WRITE_BATCH)
    except IntegrityError:
        # The file has no duplicates (validated), so another writer added one of its seats meanwhile.
        raise ImportConflict("An account of this config was added by someone else during the import; nothing "
                             "was changed. Import again.", param="accounts") from None


def _update_accounts(pairs: list[tuple[Account, dict]], *, now: datetime) -> None:
    """Plain fields with one statement per set of changed fields (only those columns: the counters the pool
    moves meanwhile stay intact), then the transitions through the life cycle, batched."""
    by_changed: dict[tuple[str, ...], list[Account]] = {}
    switched: list[tuple[int, lifecycle.Changes]] = []
    new_cookies: list[int] = []
    for account, row in pairs:
        plain = _plain_fields(row)
        changed = tuple(name for name, value in plain.items() if getattr(account, name) != value)
        if changed:
            for name in changed:
                setattr(account, name, plain[name])
            account.updated_at = now
            by_changed.setdefault(changed, []).append(account)
        if row["available"] != account.enabled:
            # The rule reads the account as locked, as account_update's does.
            switched.append((account.pk, lifecycle.enabled(account, now=now) if row["available"]
                             else lifecycle.disabled(now=now)))
        if any(name in changed for name in services.COOKIE_FIELDS):
            new_cookies.append(account.pk)
    for changed, accounts in by_changed.items():
        lifecycle.write_plain_fields(accounts, [*changed, "updated_at"])
    lifecycle.apply_each(switched)
    # After the switches, as in account_update: its guard reads the row as they left it.
    lifecycle.apply_many(new_cookies, lifecycle.cookies_replaced(now=now))


def _import_model(row: dict, position: int) -> bool:
    capabilities = row.get("capabilities")
    defaults = {
        "name": row["name"], "description": row["description"], "context_length": row["context_length"],
        "max_tokens": row["max_tokens"], "price_per_1k_tokens": row["price_per_1k_tokens"],
        "upstream_model_id": row["upstream_model_id"], "enabled": row["enabled"],
        # The file's order is the catalogue's order, which keeps export -> import -> export stable.
        "sort_order": position,
    }
    if capabilities is not None:
        defaults.update({name if name != "text" else "supports_text": name in capabilities
                         for name in CAPABILITIES})
    model, created = ModelConfig.objects.get_or_create(id=row["id"], defaults=defaults)
    if not created:
        for key, value in defaults.items():
            setattr(model, key, value)
        model.save()
    return created


def _import_aliases(rows: list[dict]) -> None:
    """Replace the aliases of the rows that list them, checked against the whole catalogue as it now stands
    (models the file does not mention keep theirs), and make sure no imported id is another model's alias;
    a clash raises ConfigInvalid, which undoes the import."""
    listed = [(index, row) for index, row in enumerate(rows) if "aliases" in row]
    ModelAlias.objects.filter(model_id__in=[row["id"] for _, row in listed]).delete()
    problems = []
    for index, row in listed:
        problems += [f"models[{index}].aliases: {problem}"
                     for problem in aliases_problems(model_id=row["id"], aliases=row["aliases"])]
    index_of = {row["id"]: index for index, row in enumerate(rows)}
    taken = ModelAlias.objects.filter(alias__in=index_of).values_list("alias", "model_id")
    problems += [f"models[{index_of[alias]}].id: {alias!r} is already an alias of {owner!r}."
                 for alias, owner in sorted(taken)]
    if problems:
        raise ConfigInvalid(problems)
    ModelAlias.objects.bulk_create([ModelAlias(alias=alias, model_id=row["id"])
                                    for _, row in listed for alias in row["aliases"]])
    hot_rows.MODELS.clear()  # bulk_create sends no signal


def _check_default_model(config: dict) -> None:
    name = config.get("default_model")
    if name and model_lookup(name=name) is None:
        raise ConfigInvalid([f"default_model: {name!r} is not an enabled model id or alias in the catalogue."])


# ---- export ---------------------------------------------------------------------------------


def config_export() -> dict:
    """The whole configuration, secrets included, in the original tool's format (plus gempool's keys)."""
    pool = PoolSettings.load()
    return {
        "proxy": pool.proxy_url,
        "proxy_enabled": pool.proxy_enabled,
        "image_base_url": pool.image_base_url,
        "default_model": pool.default_model,
        "cooldown": {
            "base_seconds": pool.cooldown_base_seconds,
            "max_seconds": pool.cooldown_max_seconds,
            "unavailable_rest_seconds": pool.unavailable_rest_seconds,
        },
        "daily_quotas": {kind: getattr(pool, f"daily_{kind}_quota") for kind in QUOTA_KINDS},
        "accounts": [_account_row(account) for account in Account.objects.order_by("id")],
        "models": [_model_row(model) for model in
                   ModelConfig.objects.order_by("sort_order", "id").prefetch_related("alias_rows")],
    }


def config_export_text() -> str:
    """config_export() serialized the way the original tool wrote its file."""
    return json.dumps(config_export(), indent=4, ensure_ascii=False) + "\n"


def _account_row(account: Account) -> dict:
    row = {
        "team_id": account.team_id,
        "secure_c_ses": account.secure_c_ses,
        "host_c_oses": account.host_c_oses,
        "csesidx": account.csesidx,
        "user_agent": account.user_agent,
        "available": account.enabled,
        "label": account.label,
        "proxy": account.proxy_url,
    }
    overrides = {kind: getattr(account, f"daily_{kind}_quota") for kind in QUOTA_KINDS}
    if any(quota is not None for quota in overrides.values()):  # only then: older files stay as they were
        row["daily_quotas"] = {kind: quota for kind, quota in overrides.items() if quota is not None}
    return row


def _model_row(model: ModelConfig) -> dict:
    price = model.price_per_1k_tokens.normalize()
    return {
        "id": model.id,
        "name": model.name,
        "description": model.description,
        "context_length": model.context_length,
        "max_tokens": model.max_tokens,
        "price_per_1k_tokens": int(price) if price == price.to_integral_value() else float(price),
        "upstream_model_id": model.upstream_model_id,
        "capabilities": model.capabilities,
        "aliases": model.aliases,
        "enabled": model.enabled,
    }
