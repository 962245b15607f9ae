/**
 * Pool modules that cannot serve: one whose provider fails at bootstrap, beside another module,
 * so that a pool naming this file must also name which of the two it means.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';

@Injectable()
export class LicenceCheck {
  constructor() {
    throw new Error('the licence server is down');
  }
}

@Module({ providers: [LicenceCheck] })
export class FailingModule {}

@Module({ providers: [{ provide: 'REGION', useValue: 'eu' }] })
export class OtherModule {}
