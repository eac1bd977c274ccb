/** `cdk synth` / `cdk deploy` run this (cdk.json's "app"). */
import { buildApp } from './app.js';

buildApp().app.synth();
