package io.sluice.config;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ConsumerOptionsTest {
    @Test
    void shouldReadStallWarningFromYamlAndRejectAnInvalidOneNamingKeyAndValue() {
        SluiceConfig config = SluiceConfig.parse("consumer:\n  stallWarning: 45s\n", "test.yaml");
        assertThat(config.consumer().stallWarning()).isEqualTo(Duration.ofSeconds(45));
        assertThat(ConsumerOptions.defaults().stallWarning()).isEqualTo(Duration.ofMinutes(1));

        assertThatThrownBy(() -> SluiceConfig.parse("consumer:\n  stallWarning: 0s\n", "test.yaml"))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid value '0s' for configuration consumer.stallWarning: must be between 1ms and 24h");
    }
}
