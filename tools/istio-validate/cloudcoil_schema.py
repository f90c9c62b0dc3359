#!/usr/bin/env python3
"""JSON Schemas of Istio's extensions.istio.io resources, read from a
cloudcoil-models-istio wheel.

    python3 cloudcoil_schema.py WHEEL > schemas.json

cloudcoil-models-istio (PyPI) is the newest package in the registries this
project reaches that carries Istio's CRDs: Pydantic models generated from
the OpenAPI schema of each CRD, versioned after the Istio release they come
from (1.31.0.1: Istio 1.31.0, build 1). It needs Python 3.14 to run, so
this script does not import it: it reads the generated module with `ast`
(standard library only) and writes, for each resource (WasmPlugin,
TrafficExtension), the JSON Schema those models enforce: types, enums
(Literal), required fields (no default), string and list lengths, patterns
and bounds (Field(...)). Unknown fields are allowed, as Pydantic's default
and the CRD schema do. A construct it does not know stops it with an error,
so a newer wheel cannot lose a rule without notice.

Output: {"source": ..., "istio": ..., "schemas": {KIND: schema}}.
"""

import ast
import json
import sys
import zipfile

MODULE = "cloudcoil/models/istio/extensions/v1alpha1.py"
PACKAGE = "cloudcoil-models-istio"

SCALARS = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "Any": {},
    # Timestamps appear in status only.
    "AwareDatetime": {"type": "string"},
    # cloudcoil's own ObjectMeta; the API server checks metadata.
    "ObjectMeta": {"type": "object"},
}

# Field(...) keywords that are not validation rules.
NOT_RULES = {"alias", "default", "description"}

# Field(...) rules by the JSON type they apply to.
RULES = {
    "string": {"min_length": "minLength", "max_length": "maxLength", "pattern": "pattern"},
    "integer": {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"},
    "number": {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"},
    "array": {"min_length": "minItems", "max_length": "maxItems"},
    "object": {"min_length": "minProperties", "max_length": "maxProperties"},
}


class Unknown(Exception):
    pass


def literal(node):
    try:
        return ast.literal_eval(node)
    except ValueError as e:
        raise Unknown(f"not a literal: {ast.unparse(node)}") from e


class Translator:
    def __init__(self, tree):
        self.classes = {}
        self.aliases = {}
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
            elif (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and ast.unparse(node.value.func) == "TypeAliasType"
            ):
                self.aliases[node.targets[0].id] = node.value.args[1]
        self.definitions = {}

    def union_members(self, node):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self.union_members(node.left) + self.union_members(node.right)
        return [node]

    def type_of(self, node, rules=None):
        """The schema of an annotation, with Field rules applied to its
        non-null part."""
        members = self.union_members(node)
        if len(members) > 1:
            schemas = [self.type_of(m, rules) for m in members if not self.is_none(m)]
            if any(self.is_none(m) for m in members):
                schemas.append({"type": "null"})
            return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
        if isinstance(node, ast.Name):
            if node.id in SCALARS:
                schema = dict(SCALARS[node.id])
            elif node.id in self.aliases:
                return self.type_of(self.aliases[node.id], rules)
            elif node.id in self.classes:
                self.define(node.id)
                if rules:
                    raise Unknown(f"Field rules on a model: {node.id}")
                return {"$ref": f"#/definitions/{node.id}"}
            else:
                raise Unknown(f"type {node.id}")
        elif isinstance(node, ast.Subscript):
            outer = ast.unparse(node.value)
            args = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if outer == "list":
                schema = {"type": "array", "items": self.type_of(args[0])}
            elif outer == "dict":
                if ast.unparse(args[0]) != "str":
                    raise Unknown(f"dict keyed by {ast.unparse(args[0])}")
                schema = {"type": "object", "additionalProperties": self.type_of(args[1])}
            elif outer == "Literal":
                values = [literal(a) for a in args]
                kinds = {type(v) for v in values}
                if kinds != {str}:
                    raise Unknown(f"Literal of {kinds}")
                schema = {"type": "string", "enum": values}
            elif outer == "Annotated":
                return self.type_of(args[0], self.field_rules(args[1:]))
            else:
                raise Unknown(f"type {outer}[...]")
        else:
            raise Unknown(f"annotation {ast.unparse(node)}")
        for name, value in (rules or {}).items():
            keyword = RULES.get(schema.get("type"), {}).get(name)
            if keyword is None:
                raise Unknown(f"Field({name}=...) on {schema}")
            schema[keyword] = value
        return schema

    @staticmethod
    def is_none(node):
        return isinstance(node, ast.Constant) and node.value is None

    @staticmethod
    def field_rules(metadata):
        """The validation rules of Annotated[..., Field(...)]."""
        rules = {}
        for item in metadata:
            if not (isinstance(item, ast.Call) and ast.unparse(item.func) == "Field"):
                raise Unknown(f"Annotated metadata {ast.unparse(item)}")
            if item.args:
                raise Unknown(f"positional Field arguments: {ast.unparse(item)}")
            for kw in item.keywords:
                if kw.arg not in NOT_RULES:
                    rules[kw.arg] = literal(kw.value)
        return rules

    @staticmethod
    def field_name(annotation, python_name):
        """The JSON name: Field(alias=...) if given."""
        if isinstance(annotation, ast.Subscript) and ast.unparse(annotation.value) == "Annotated":
            for item in annotation.slice.elts[1:]:
                for kw in getattr(item, "keywords", []):
                    if kw.arg == "alias":
                        return literal(kw.value)
        return python_name

    def fields(self, name):
        for item in self.classes[name].body:
            if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
                continue
            if ast.unparse(item.annotation).startswith("ClassVar"):
                continue
            yield item

    def model(self, name):
        cls = self.classes[name]
        bases = [ast.unparse(b) for b in cls.bases]
        fields = list(self.fields(name))
        if any(b.startswith("RootModel[") for b in bases):
            (root,) = fields
            return self.type_of(root.annotation)
        if not set(bases) <= {"BaseModel", "Resource"}:
            raise Unknown(f"class {name}({', '.join(bases)})")
        properties, required = {}, []
        for field in fields:
            json_name = self.field_name(field.annotation, field.target.id)
            properties[json_name] = self.type_of(field.annotation)
            if field.value is None:
                required.append(json_name)
        schema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema

    def define(self, name):
        if name not in self.definitions:
            self.definitions[name] = None  # being defined (recursion guard)
            self.definitions[name] = self.model(name)

    def resource(self, kind):
        self.definitions = {}
        schema = self.model(kind)
        schema["definitions"] = self.definitions
        return schema


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    with zipfile.ZipFile(argv[1]) as wheel:
        source = wheel.read(MODULE).decode()
        metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        version = next(
            line.split(":", 1)[1].strip()
            for line in wheel.read(metadata).decode().splitlines()
            if line.startswith("Version:")
        )
    translator = Translator(ast.parse(source))
    try:
        schemas = {kind: translator.resource(kind) for kind in ("WasmPlugin", "TrafficExtension")}
    except Unknown as e:
        print(f"{argv[1]}: cannot translate {MODULE}: {e}", file=sys.stderr)
        return 1
    json.dump(
        {
            "source": f"{PACKAGE} {version}, PyPI",
            "istio": ".".join(version.split(".")[:3]),
            "schemas": schemas,
        },
        sys.stdout,
        indent=1,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
