// Injection tokens for what the composition hands the gateway's module as values.
export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');
export const GATEWAY_LOGGER = Symbol('GATEWAY_LOGGER');
export const READINESS_CHECKS = Symbol('GATEWAY_READINESS_CHECKS');
export const CLOCK = Symbol('CLOCK');
export const ID_GENERATOR = Symbol('ID_GENERATOR');
