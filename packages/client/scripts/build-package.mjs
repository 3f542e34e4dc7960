// `npm run build` (and `npm pack`, through prepack): compiles src/ to dist/ as the published package
// ships it, ES modules and declarations that plain Node and any TypeScript project read as they are.
// The sources take the API's types from workspace packages (src/api-types.ts), which are not
// published: here the type checker resolves each of those aliases and writes it out as the plain
// type it is, so dist/ names no zod and no @aitasks package. The build fails rather than ship a file
// that imports anything but dist/ itself.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const packageRoot = fileURLToPath(new URL("..", import.meta.url));
const sourceDir = join(packageRoot, "src");
const outDir = join(packageRoot, "dist");
const apiTypesFile = join(sourceDir, "api-types.ts");

const options = {
  target: ts.ScriptTarget.ES2022,
  lib: ["lib.es2023.d.ts"],
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  noUncheckedIndexedAccess: true,
  noImplicitOverride: true,
  verbatimModuleSyntax: true,
  skipLibCheck: true,
  types: ["node"],
  declaration: true,
};

const entries = readdirSync(sourceDir)
  .filter((name) => name.endsWith(".ts") && !name.endsWith(".test.ts"))
  .map((name) => join(sourceDir, name));
const program = ts.createProgram(entries, options);
const ownFiles = program.getSourceFiles().filter((file) => file.fileName.startsWith(sourceDir));

const diagnostics = [
  ...program.getOptionsDiagnostics(),
  ...program.getGlobalDiagnostics(),
  ...ownFiles.flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)]),
];
if (diagnostics.length > 0) {
  const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => packageRoot, getNewLine: () => "\n" };
  throw new Error(`packages/client does not compile:\n${ts.formatDiagnostics(diagnostics, host)}`);
}

/** A type that dist/ can carry: plain object types, arrays, unions and literals, nothing imported. */
function printApiTypes() {
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(apiTypesFile);
  const aliases = source.statements.filter(
    (statement) =>
      ts.isTypeAliasDeclaration(statement) &&
      statement.modifiers?.some((modifier) => modifier.kind === ts.SyntaxKind.ExportKeyword),
  );
  // A type met again inside another is written by its name (`price: TaskPrice | null`).
  const names = new Map(aliases.map((alias) => [checker.getTypeAtLocation(alias.name), alias.name.text]));
  const identifier = /^[A-Za-z_$][\w$]*$/;
  const spaced = (text) => (text.startsWith("\n") ? text : ` ${text}`);

  function print(type, indent, path, top = false) {
    const name = names.get(type);
    if (name && !top) return name;
    if (path.includes(type)) throw new Error(`${path.map((t) => checker.typeToString(t)).join(" > ")}: recursive`);
    const inner = [...path, type];
    const { flags } = type;
    if (flags & ts.TypeFlags.Union) {
      const members = type.types.filter((member) => !(member.flags & ts.TypeFlags.BooleanLiteral));
      const printed = members.map((member) => print(member, indent, inner));
      if (members.length < type.types.length) printed.push("boolean");
      // null and undefined last, as people write them.
      const rank = (text) => ["null", "undefined"].indexOf(text) + 1;
      printed.sort((a, b) => rank(a) - rank(b));
      const line = printed.join(" | ");
      // A long union one member a line, after the `=` or `:` that introduces it.
      return line.length <= 80 ? line : printed.map((text) => `\n${"  ".repeat(indent + 1)}| ${text}`).join("");
    }
    if (
      flags &
      (ts.TypeFlags.String |
        ts.TypeFlags.Number |
        ts.TypeFlags.Boolean |
        ts.TypeFlags.Null |
        ts.TypeFlags.Undefined |
        ts.TypeFlags.Unknown |
        ts.TypeFlags.Never |
        ts.TypeFlags.StringLiteral |
        ts.TypeFlags.NumberLiteral |
        ts.TypeFlags.BooleanLiteral |
        ts.TypeFlags.TemplateLiteral)
    ) {
      return checker.typeToString(type);
    }
    const objects = flags & ts.TypeFlags.Intersection ? type.types : [type];
    if (objects.every((member) => member.flags & ts.TypeFlags.Object)) {
      if (checker.isArrayType(type)) {
        const element = print(checker.getTypeArguments(type)[0], indent, inner);
        return /[|&\s]/.test(element) && !element.startsWith("{") ? `(${element})[]` : `${element}[]`;
      }
      if (checker.isTupleType(type) || type.getCallSignatures().length || type.getConstructSignatures().length) {
        throw new Error(`${checker.typeToString(type)}: not a plain data type`);
      }
      const pad = "  ".repeat(indent + 1);
      const lines = [];
      for (const property of checker.getPropertiesOfType(type)) {
        const docs = ts.displayPartsToString(property.getDocumentationComment(checker));
        if (docs) lines.push(`${pad}/** ${docs.replace(/\s*\n\s*/g, " ")} */`);
        const optional = property.flags & ts.SymbolFlags.Optional ? "?" : "";
        const key = identifier.test(property.name) ? property.name : JSON.stringify(property.name);
        lines.push(`${pad}${key}${optional}:${spaced(print(checker.getTypeOfSymbol(property), indent + 1, inner))};`);
      }
      for (const index of checker.getIndexInfosOfType(type)) {
        const key = checker.typeToString(index.keyType);
        lines.push(`${pad}[key: ${key}]:${spaced(print(index.type, indent + 1, inner))};`);
      }
      return lines.length ? `{\n${lines.join("\n")}\n${"  ".repeat(indent)}}` : "{}";
    }
    throw new Error(`${checker.typeToString(type)}: a type dist/ cannot carry without its imports`);
  }

  const blocks = aliases.map((alias) => {
    const docs = ts
      .getJSDocCommentsAndTags(alias)
      .map((doc) => doc.getText(source))
      .join("\n");
    const type = checker.getTypeAtLocation(alias.name);
    return `${docs ? `${docs}\n` : ""}export type ${alias.name.text} =${spaced(print(type, 0, [], true))};`;
  });
  return `// The API's types, resolved from its schemas when this package was built (src/api-types.ts).\n\n${blocks.join("\n\n")}\n`;
}

const written = new Map();
for (const file of ownFiles) {
  program.emit(file, (fileName, text) => {
    // Without an outDir the compiler names each output beside its source: move it to dist/.
    written.set(join(outDir, relative(sourceDir, fileName)), text);
  });
}
// api-types.ts holds types only: no JavaScript imports it, and its declarations are generated.
written.delete(join(outDir, "api-types.js"));
written.set(join(outDir, "api-types.d.ts"), printApiTypes());

for (const [file, text] of written) {
  // JavaScript imports JavaScript, declarations import declarations: each of dist/ itself.
  const ending = file.endsWith(".d.ts") ? ".d.ts" : ".js";
  for (const [, specifier] of text.matchAll(/(?:from\s*|import\s*\(\s*|import\s+)["']([^"']+)["']/g)) {
    const target = specifier.startsWith(".") && join(dirname(file), specifier).replace(/\.js$/, ending);
    if (!target || !written.has(target))
      throw new Error(`${relative(packageRoot, file)} imports ${specifier}, which the package does not carry`);
  }
}
rmSync(outDir, { recursive: true, force: true });
for (const [file, text] of written) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}
console.log(`packages/client: ${written.size} files in dist/`);
