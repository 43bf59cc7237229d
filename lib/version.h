/* version.h — the one place the product version is written. */
#ifndef KW_VERSION_H
#define KW_VERSION_H
#define KW_VERSION "0.1.0"
#define KW_PRODUCT "KalshiWhale"
/* The terms the OpenAPI document states. The repository has no licence file, so the code is
 * under the default of copyright law; change these together when a licence is chosen. */
#define KW_LICENSE_NAME "All rights reserved"
#define KW_LICENSE_ID "LicenseRef-All-Rights-Reserved"
#endif
