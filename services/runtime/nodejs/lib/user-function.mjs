// Resolving the handler string ("path/to/file.export") to a function, with
// the same lookup order as AWS's Node.js runtime: extensionless file, .js as
// CommonJS (unless package.json says "type": "module"), .js as ESM, .mjs,
// .cjs, then Node's own resolution (node_modules, NODE_PATH).

import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { HandlerNotFound, ImportModuleError, MalformedHandlerName, UserCodeSyntaxError } from './errors.mjs';

const FUNCTION_EXPR = /^([^.]*)\.(.*)$/;

/**
 * Loads the user's module and returns the handler function.
 * @param {string} appRoot LAMBDA_TASK_ROOT
 * @param {string} handlerString e.g. "src/handlers/app.handler"
 * @param {NodeRequire} require a require to load CommonJS with
 */
export async function loadHandler(appRoot, handlerString, require) {
  if (handlerString.includes('..')) {
    throw new MalformedHandlerName(
      `'${handlerString}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const base = path.basename(handlerString);
  const moduleRoot = handlerString.substring(0, handlerString.indexOf(base));
  const match = base.match(FUNCTION_EXPR);
  if (!match) throw new MalformedHandlerName('Bad handler');
  const [, moduleName, handlerPath] = match;

  const userApp = await loadUserApp(appRoot, moduleRoot, moduleName, require);
  // "file.a.b" names a nested export: module.a.b.
  const handler = handlerPath.split('.').reduce((obj, key) => obj && obj[key], userApp);
  if (!handler) throw new HandlerNotFound(`${handlerString} is undefined or not exported`);
  if (typeof handler !== 'function') throw new HandlerNotFound(`${handlerString} is not a function`);
  return handler;
}

async function loadUserApp(appRoot, moduleRoot, moduleName, require) {
  try {
    return await tryLoad(appRoot, moduleRoot, moduleName, require);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e);
    if (e?.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(e);
    throw e;
  }
}

async function tryLoad(appRoot, moduleRoot, moduleName, require) {
  const file = path.resolve(appRoot, moduleRoot, moduleName);
  const requireIfExists = (p) => (fs.existsSync(p) ? require(p) : undefined);
  const importIfExists = async (p) => (fs.existsSync(p) ? import(pathToFileURL(p).href) : undefined);

  const extensionless = requireIfExists(file);
  if (extensionless) return extensionless;

  const jsIsModule = fs.existsSync(`${file}.js`) && packageTypeIsModule(path.dirname(`${file}.js`));
  if (!jsIsModule) {
    const cjs = requireIfExists(`${file}.js`);
    if (cjs) return cjs;
  }
  const loaded = (jsIsModule && (await importIfExists(`${file}.js`))) ||
    (await importIfExists(`${file}.mjs`)) ||
    requireIfExists(`${file}.cjs`);
  if (loaded) return loaded;

  // Not a file below the task root: let Node resolve it (node_modules of the
  // task root or of the handler's directory, then NODE_PATH, i.e. layers).
  return require(require.resolve(moduleName, { paths: [appRoot, moduleRoot] }));
}

/** Whether the nearest package.json above dir says "type": "module". */
function packageTypeIsModule(dir) {
  for (;;) {
    if (dir.endsWith('/node_modules')) return false;
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        return JSON.parse(fs.readFileSync(pj, 'utf8'))?.type === 'module';
      } catch (e) {
        console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
        return false;
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return false;
    dir = parent;
  }
}
