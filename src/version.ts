/**
 * The extension's version; equal to package.json and the Python package
 * (checked by src/__tests__/versions.spec.ts and python/tests/unit/test_versions.py).
 */
export const PACKAGE_VERSION = '0.1.0';
