import 'reflect-metadata';
import { Module, type INestApplicationContext, type Type } from '@nestjs/common';
import { DiscoveryModule, DiscoveryService, MetadataScanner, NestFactory, Reflector } from '@nestjs/core';
import { pathToFileURL } from 'node:url';
import { TaskHandlerScanner, type FoundHandler } from '../../task-handlers.scanner.js';
import type { MemberSettings } from './pool-protocol.js';

/** The root of a member's application: the user's pool module, plus discovery to find its handlers. */
@Module({ imports: [DiscoveryModule] })
class OmniQPoolMemberModule {}

export interface BootstrappedMember {
  app: INestApplicationContext;
  handlers: Map<string, FoundHandler>;
}

/** Imports the pool module, bootstraps it as a Nest application context and finds its `@Task()` handlers. */
export async function bootstrapMember(settings: MemberSettings): Promise<BootstrappedMember> {
  const exports = (await import(pathToFileURL(settings.moduleFile).href)) as Record<string, unknown>;
  const poolModule = pickModule(exports, settings);
  // Nest's bootstrap lines would repeat for every member: only its warnings and errors show until it is up.
  const app = await NestFactory.createApplicationContext(
    { module: OmniQPoolMemberModule, imports: [poolModule] },
    { logger: settings.logLevels === false ? false : ['warn', 'error', 'fatal'], abortOnError: false },
  );
  app.useLogger(settings.logLevels);
  const scanner = new TaskHandlerScanner(app.get(DiscoveryService), app.get(MetadataScanner), app.get(Reflector));
  return { app, handlers: new Map(scanner.scan().map((found) => [found.name, found])) };
}

/** The export named by `#name`, else the file's only export that is a Nest module. */
function pickModule(exports: Record<string, unknown>, { moduleFile, exportName }: MemberSettings): Type {
  const modules = Object.entries(exports).filter(([, value]) => isNestModule(value));
  if (exportName !== undefined) {
    const chosen = exports[exportName];
    if (isNestModule(chosen)) return chosen;
    const found = modules.length ? `its Nest modules: ${modules.map(([name]) => name).join(', ')}` : 'it exports no Nest module';
    throw new Error(`${moduleFile} has no exported Nest module "${exportName}" (${found})`);
  }
  const distinct = [...new Set(modules.map(([, value]) => value))];
  if (distinct.length === 1) return distinct[0] as Type;
  if (distinct.length === 0) throw new Error(`${moduleFile} exports no Nest module (a class decorated with @Module())`);
  throw new Error(`${moduleFile} exports ${distinct.length} Nest modules (${modules.map(([name]) => name).join(', ')}): name one in worker.poolModule with #ExportName`);
}

function isNestModule(value: unknown): value is Type {
  if (typeof value !== 'function') return false;
  return ['imports', 'providers', 'controllers', 'exports'].some((key) => Reflect.getMetadata(key, value) !== undefined);
}
