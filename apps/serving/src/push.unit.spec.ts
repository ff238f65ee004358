import { pushEndpointSuite } from './push-endpoint.test-kit';

pushEndpointSuite('embedded');
