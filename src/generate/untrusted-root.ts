/**
 * A trust anchor nothing chains to: a self-signed CA whose private key was
 * thrown away when it was made (openssl req -x509 ... -keyout /dev/null), valid
 * until 2126. TLS origination that should trust the system CA bundle trusts
 * this instead when the host has no bundle (tls-origination.ts): Envoy accepts
 * the cluster (a NACK would take every other cluster of the update with it)
 * and refuses every server certificate (`ssl.fail_verify_error`), which is
 * what a missing bundle means; a diagnostic says why. Not a secret: a
 * certificate only.
 */
export const UNTRUSTED_ROOT_PEM = `
-----BEGIN CERTIFICATE-----
MIICBjCCAa2gAwIBAgIUT1rZ/TWeEHEL8aVyOXkKn5VFbsswCgYIKoZIzj0EAwIw
UDETMBEGA1UECgwKbWluaS1waWxvdDE5MDcGA1UEAwwwbm8gc3lzdGVtIENBIGJ1
bmRsZSBvbiB0aGlzIGhvc3Q6IHRydXN0cyBub3RoaW5nMCAXDTI2MTIwMzE5MzQy
OVoYDzIxMjYxMTA5MTkzNDI5WjBQMRMwEQYDVQQKDAptaW5pLXBpbG90MTkwNwYD
VQQDDDBubyBzeXN0ZW0gQ0EgYnVuZGxlIG9uIHRoaXMgaG9zdDogdHJ1c3RzIG5v
dGhpbmcwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASnXfysDejiFJmdEEfELIX/
EEoC96W7O0T1coMHS6TnQCvPYWDffOVFlIX+RzYvi3fLvj6mxflJYnpluJQTJUjK
o2MwYTAdBgNVHQ4EFgQU+gDdDae2Psn9mNX4HS7BsRu5s4QwHwYDVR0jBBgwFoAU
+gDdDae2Psn9mNX4HS7BsRu5s4QwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8E
BAMCAgQwCgYIKoZIzj0EAwIDRwAwRAIgcdTbficP67eSwNixpj57hX0Jv8X4XZM7
rjklkGDPSGECIDqSV4CpnFfr2tFEnXKnVLFMDDF95A55wfRa/esqdwNO
-----END CERTIFICATE-----
`.trimStart();
