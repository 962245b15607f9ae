import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { OmniQModuleOptions } from './interfaces/omniq-options.interface.js';

export const {
  ConfigurableModuleClass: OmniQConfigurableModule,
  MODULE_OPTIONS_TOKEN: OMNIQ_MODULE_OPTIONS,
} = new ConfigurableModuleBuilder<OmniQModuleOptions>()
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: false }, (definition, extras) => ({ ...definition, global: extras.isGlobal }))
  .build();
