/* integration_config.h - the tests of integration_config.c (`superd -t`
 * on configuration mistakes), registered in integration.c. */
#ifndef SUPERD_INTEGRATION_CONFIG_H
#define SUPERD_INTEGRATION_CONFIG_H

void it_cfg_test_tcp_wildcard_overlap(void);
void it_cfg_test_include_overrides(void);
void it_cfg_test_socket_mode_nothing(void);
void it_cfg_test_group_without_user(void);
void it_cfg_test_user_root_warns(void);
void it_cfg_test_bom(void);
void it_cfg_test_ipv6_zone(void);
void it_cfg_test_cidr_suggestion(void);

#define IT_CONFIG_TESTS \
    { "-t: tcp://*:P beside tcp://127.0.0.1:P", it_cfg_test_tcp_wildcard_overlap }, \
    { "-t: an include giving a [superd] key again", it_cfg_test_include_overrides }, \
    { "-t: socket_mode on no unix file", it_cfg_test_socket_mode_nothing }, \
    { "-t: group without user", it_cfg_test_group_without_user }, \
    { "-t: user = root warns", it_cfg_test_user_root_warns }, \
    { "-t: a UTF-8 BOM", it_cfg_test_bom }, \
    { "-t: [fe80::1%lo] keeps its zone", it_cfg_test_ipv6_zone }, \
    { "-t: only_from 127.0.0.1/8 suggests the network", it_cfg_test_cidr_suggestion },

#endif
