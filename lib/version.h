/* version.h — the one place the product version is written. */
#ifndef KW_VERSION_H
#define KW_VERSION_H
#define KW_VERSION "0.1.0"
#define KW_PRODUCT "KalshiWhale"
#endif
